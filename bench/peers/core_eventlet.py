# eventlet on the core workloads of bench/core.ts. Prints name<TAB>value<TAB>unit.
import time
import eventlet
from eventlet.queue import LightQueue

ROUNDS = 200000


def switch():
    ping, pong = LightQueue(), LightQueue()

    def left():
        for i in range(ROUNDS):
            ping.put(i)
            pong.get()

    def right():
        for _ in range(ROUNDS):
            pong.put(ping.get())

    start = time.perf_counter()
    a, b = eventlet.spawn(left), eventlet.spawn(right)
    a.wait()
    b.wait()
    return 2 * ROUNDS / (time.perf_counter() - start)


def spawn_wait(n=100000):
    start = time.perf_counter()
    threads = [eventlet.spawn(abs, i) for i in range(n)]
    for t in threads:
        t.wait()
    return n / (time.perf_counter() - start)


print("switch_eventlet\t%.0f\tswitches/s" % switch())
print("spawn_eventlet\t%.0f\tthreads/s" % spawn_wait())
