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

    start, cpu = time.perf_counter(), time.process_time()
    a, b = eventlet.spawn(left), eventlet.spawn(right)
    a.wait()
    b.wait()
    return 2 * ROUNDS / (time.perf_counter() - start), 2 * ROUNDS / (time.process_time() - cpu)


def spawn_wait(n=100000):
    start = time.perf_counter()
    threads = [eventlet.spawn(abs, i) for i in range(n)]
    for t in threads:
        t.wait()
    return n / (time.perf_counter() - start)


wall, cpu = switch()
print("switch_eventlet\t%.0f\tswitches/s" % wall)
print("switch_eventlet_cpu\t%.0f\tswitches per CPU-second" % cpu)
print("spawn_eventlet\t%.0f\tthreads/s" % spawn_wait())
