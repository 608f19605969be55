/* bench/relay/crelay.c: the floor the relay benchmark measures against.
 *
 * Issue 4 quotes "a minimal C relay with epoll + recvmmsg/sendmmsg" beside rtpengine;
 * this is that relay, so run.sh can measure it in the same run, pinned and loaded
 * exactly like loopstart and rtpengine. It does the least a media anchor can: one
 * UDP socket per leg on 127.0.0.1, the far end latched from the source of each
 * packet, and every packet sent unchanged out of the other leg's socket to that
 * leg's latched address. No RTCP, no rewriting, no timers, no statistics.
 *
 * The loop: one level-triggered epoll set over every socket; for each ready socket
 * one recvmmsg (up to BATCH datagrams, MSG_DONTWAIT) and one sendmmsg of what came
 * in. A socket with more waiting is simply reported again by the next epoll_wait.
 *
 * Usage: crelay CALLS PORTS_FILE
 *   binds 2 x CALLS sockets on ephemeral ports, writes "A_PORT B_PORT" per call to
 *   PORTS_FILE (what bench/relay/gen.rs --ports reads), then relays until killed.
 * Build: cc -O2 -o crelay crelay.c (run.sh does it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 16
#define EVENTS 1024
#define DATAGRAM 2048

struct leg {
    int other; /* the partner leg's descriptor */
    int latched;
    struct sockaddr_in peer;
};

static int bind_leg(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("crelay: socket");
        exit(1);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("crelay: bind");
        exit(1);
    }
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("crelay: getsockname");
        exit(1);
    }
    return ntohs(a.sin_port);
}

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: crelay CALLS PORTS_FILE\n");
        return 2;
    }
    int calls = atoi(argv[1]);
    const char *connect_env = getenv("CRELAY_CONNECT");
    int connect_legs = connect_env && strcmp(connect_env, "1") == 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("crelay: epoll_create1");
        return 1;
    }
    /* Descriptors are small integers: index the legs by them. */
    int cap = 2 * calls + 64;
    struct leg *legs = calloc(cap, sizeof *legs);
    FILE *out = fopen(argv[2], "w");
    if (!legs || !out) {
        perror("crelay: setup");
        return 1;
    }
    for (int i = 0; i < calls; i++) {
        int a = bind_leg(), b = bind_leg();
        if (a >= cap || b >= cap) {
            fprintf(stderr, "crelay: descriptor %d beyond the table\n", a > b ? a : b);
            return 1;
        }
        legs[a].other = b;
        legs[b].other = a;
        for (int k = 0; k < 2; k++) {
            int fd = k ? b : a;
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                perror("crelay: epoll_ctl");
                return 1;
            }
        }
        fprintf(out, "%d %d\n", port_of(a), port_of(b));
    }
    fclose(out);
    fprintf(stderr, "crelay: %d calls ready\n", calls);

    static char bufs[BATCH][DATAGRAM];
    static struct iovec iov[BATCH];
    static struct sockaddr_in src[BATCH];
    static struct mmsghdr in[BATCH], outm[BATCH];
    static struct epoll_event evs[EVENTS];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = DATAGRAM;
        in[i].msg_hdr.msg_iov = &iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int n = epoll_wait(ep, evs, EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("crelay: epoll_wait");
            return 1;
        }
        for (int e = 0; e < n; e++) {
            int fd = evs[e].data.fd;
            for (int i = 0; i < BATCH; i++) {
                iov[i].iov_len = DATAGRAM;
                in[i].msg_hdr.msg_name = &src[i];
                in[i].msg_hdr.msg_namelen = sizeof src[i];
            }
            int got = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL);
            if (got <= 0)
                continue;
            struct leg *me = &legs[fd];
            if (!me->latched && connect_legs) {
                /* CRELAY_CONNECT=1: connect the socket to the peer it latched, so sends
                 * to it skip the route lookup (the socket caches it). */
                if (connect(fd, (struct sockaddr *)&src[got - 1], sizeof src[0]) < 0)
                    perror("crelay: connect");
            }
            me->peer = src[got - 1];
            me->latched = 1;
            struct leg *to = &legs[me->other];
            if (!to->latched)
                continue;
            for (int i = 0; i < got; i++) {
                outm[i].msg_hdr = in[i].msg_hdr;
                outm[i].msg_hdr.msg_name = connect_legs ? NULL : &to->peer;
                outm[i].msg_hdr.msg_namelen = connect_legs ? 0 : sizeof to->peer;
                iov[i].iov_len = in[i].msg_len;
            }
            (void)sendmmsg(me->other, outm, got, MSG_DONTWAIT);
        }
    }
}
