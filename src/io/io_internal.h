/*
 * Internal: what io.c shares with the other files of the io layer.
 */
#ifndef GREEN_IO_INTERNAL_H
#define GREEN_IO_INTERNAL_H

/* Put fd in O_NONBLOCK mode once, remembered in its fd record until
 * green_close(): 0 or errno. */
int io_ensure_nonblocking(int fd);

#endif /* GREEN_IO_INTERNAL_H */
