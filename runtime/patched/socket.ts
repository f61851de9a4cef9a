// evy/patched/socket: the Evy-style socket module on the native hub.
import { AF_INET, AF_INET6, GreenSocket, type Address } from '../io/socket';

export {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  GreenSocket,
  IPPROTO_TCP,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  SocketTimeout,
  SocketTimeout as timeout,
  TCP_NODELAY,
  socket,
  type Address,
} from '../io/socket';

/**
 * Python's socket.create_connection: connects to `[host, port]`; `timeout`
 * (seconds) bounds the connect and stays the socket's timeout; `sourceAddress`
 * binds the local end first.
 */
export async function createConnection(
  address: [string, number],
  timeout: number | null = null,
  sourceAddress?: [string, number],
): Promise<GreenSocket> {
  const sock = new GreenSocket(address[0].includes(':') ? AF_INET6 : AF_INET);
  try {
    sock.timeout = timeout;
    if (sourceAddress !== undefined) sock.bind(sourceAddress as Address);
    await sock.connect(address);
  } catch (err) {
    sock.close();
    throw err;
  }
  return sock;
}

export { gethostbyname, gethostbyaddr, getaddrinfo, type AddrInfo } from './dns';
