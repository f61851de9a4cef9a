// evy/patched/select: select() over fds and green sockets (in progress).
export {};
