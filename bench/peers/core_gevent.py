# gevent on the core workloads of bench/core.ts. Prints name<TAB>value<TAB>unit.
import time
import gevent
from gevent.queue import Queue

ROUNDS = 200000


def switch():
    ping, pong = Queue(), Queue()

    def left():
        for i in range(ROUNDS):
            ping.put(i)
            pong.get()

    def right():
        for _ in range(ROUNDS):
            pong.put(ping.get())

    start, cpu = time.perf_counter(), time.process_time()
    gevent.joinall([gevent.spawn(left), gevent.spawn(right)])
    return 2 * ROUNDS / (time.perf_counter() - start), 2 * ROUNDS / (time.process_time() - cpu)


def spawn_wait(n=100000):
    start = time.perf_counter()
    threads = [gevent.spawn(abs, i) for i in range(n)]
    gevent.joinall(threads)
    return n / (time.perf_counter() - start)


wall, cpu = switch()
print("switch_gevent\t%.0f\tswitches/s" % wall)
print("switch_gevent_cpu\t%.0f\tswitches per CPU-second" % cpu)
print("spawn_gevent\t%.0f\tthreads/s" % spawn_wait())
