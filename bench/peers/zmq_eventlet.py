# Eventlet's green zmq (pyzmq under eventlet.green.zmq), the peer of
# bench/zmq_evy.ts: the same two figures, both ends greenlets of this one process.
import os
import resource
import sys
import time

import eventlet
from eventlet.green import zmq

messages = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
trips = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
ctx = zmq.Context()
payload = b'x' * 64


def cpu():
    # seconds of CPU, user + system, every thread of the process (libzmq's I/O thread too)
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

pull = ctx.socket(zmq.PULL)
push = ctx.socket(zmq.PUSH)
push.connect('tcp://127.0.0.1:%d' % pull.bind_to_random_port('tcp://127.0.0.1'))


def receive():
    for _ in range(messages):
        pull.recv()


t0 = time.perf_counter()
c0 = cpu()
receiver = eventlet.spawn(receive)
for _ in range(messages):
    push.send(payload)
receiver.wait()
print('pushpull\t%d' % round(messages / (time.perf_counter() - t0)))
print('pushpull_cpu\t%.2f' % ((cpu() - c0) * 1e6 / messages))

rep = ctx.socket(zmq.REP)
req = ctx.socket(zmq.REQ)
req.connect('tcp://127.0.0.1:%d' % rep.bind_to_random_port('tcp://127.0.0.1'))


def serve():
    for _ in range(trips):
        rep.send(rep.recv())


server = eventlet.spawn(serve)
t0 = time.perf_counter()
c0 = cpu()
for _ in range(trips):
    req.send(payload)
    req.recv()
server.wait()
print('reqrep\t%d' % round(trips / (time.perf_counter() - t0)))
print('reqrep_cpu\t%.2f' % ((cpu() - c0) * 1e6 / trips))
sys.stdout.flush()
# Eventlet's green Context hangs in destroy()/term() here (pyzmq 24,
# eventlet 0.33.1): the figures are out, so leave at once.
os._exit(0)
