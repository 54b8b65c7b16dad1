"""Linux primitives with no knowledge of containers: path resolution inside a root directory
and mounts made on file descriptors (pathrs), and the system calls they need (syscalls)."""
