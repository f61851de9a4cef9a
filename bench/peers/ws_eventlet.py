# Eventlet's WebSocket echo server (eventlet.websocket.WebSocketWSGI under
# eventlet.wsgi), for bench/websocket.sh. Usage: python3 bench/peers/ws_eventlet.py PORT
import sys

import eventlet
import eventlet.websocket
import eventlet.wsgi


@eventlet.websocket.WebSocketWSGI
def echo(ws):
    while True:
        m = ws.wait()
        if m is None:
            break
        ws.send(m)


eventlet.wsgi.server(eventlet.listen(('127.0.0.1', int(sys.argv[1])), backlog=2048), echo, log_output=False, max_size=100000)
