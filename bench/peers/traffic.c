// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The peer benchmark's traffic (bench/peers/): a sender of 64-byte IPv4/UDP frames over an
 * AF_PACKET socket with PACKET_QDISC_BYPASS, and a sink that drains a UDP socket. Built by the
 * bench with the system cc; run inside the bench's own namespaces only.
 *
 *   traffic send IFNAME DST_MAC SRC_IP DST_IP DST_PORT single|new COUNT SECONDS CPU FIRST_FLOW
 *     sends up to COUNT frames for at most SECONDS, pinned to CPU, and prints
 *     "sent N ns T cpu C": N frames, T nanoseconds of CLOCK_MONOTONIC, C of this thread's CPU
 *     time (CLOCK_THREAD_CPUTIME_ID). Without IRQ time accounting (CONFIG_IRQ_TIME_ACCOUNTING
 *     off, as here) the softirq work done on the way out of each send is charged to the thread,
 *     and time other processes held the CPU is not: C is the path's cost on a shared machine. `single` repeats one flow
 *     (SRC_IP:40000 -> DST_IP:DST_PORT); `new` sends flow FIRST_FLOW, FIRST_FLOW + 1, ...: flow
 *     i comes from port i mod 65536 of address 10.128.0.0/9 + i / 65536 (SRC_IP's first
 *     octet), so 2^39 frames pass before a flow repeats, and the bench gives each window the
 *     flows after the last window's.
 *   traffic sink PORT CPU drain|hold
 *     binds 0.0.0.0:PORT (so no packet meets the ICMP port-unreachable path) until SIGTERM or
 *     SIGINT, then prints "received N". `drain` reads it with recvmmsg; `hold` reads nothing:
 *     once its buffer is full the UDP layer drops each datagram (RcvbufErrors), which spares
 *     the sender's CPU the reader's cross-CPU wake-ups (the bench's default, docs/performance.md).
 *
 * With the qdisc bypassed, the veth transmit hands each frame to the peer's backlog, and the
 * receive path (TC ingress, netfilter, IP, UDP) runs in this process's softirq on its CPU when
 * the send returns: the sender's time per frame is the whole path's. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN 64
#define BATCH 64

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("sched_setaffinity");
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static uint16_t ip_checksum(const uint8_t *hdr)
{
	uint32_t sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(hdr[i] << 8 | hdr[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet + IPv4 (20) + UDP (8) + payload, 64 bytes (the FCS is not ours to send). */
static void build_frame(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src, uint32_t dst,
			uint16_t sport, uint16_t dport)
{
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t ip_len = FRAME_LEN - 14, udp_len = ip_len - 20;

	memset(f, 0, FRAME_LEN);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	ip[10] = 0;
	ip[11] = 0;
	{
		uint16_t c = ip_checksum(ip);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	/* UDP checksum 0: none (IPv4), so the receiver has nothing to verify but the IP header. */
}

static int cmd_send(int argc, char **argv)
{
	uint8_t dst_mac[6], src_mac[6], frames[BATCH][FRAME_LEN];
	struct sockaddr_ll addr = { 0 };
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct in_addr src_ip, dst_ip;
	uint64_t count, sent = 0, seq = 0, t0, deadline, t1, c0, c1;
	double seconds;
	int fd, one = 1, cpu, new_flows;
	unsigned ifindex, dport;

	if (argc != 12) {
		fprintf(stderr, "usage: traffic send IFNAME DST_MAC SRC_IP DST_IP DST_PORT single|new COUNT SECONDS CPU FIRST_FLOW\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex || parse_mac(argv[3], dst_mac) || !inet_aton(argv[4], &src_ip) || !inet_aton(argv[5], &dst_ip)) {
		fprintf(stderr, "traffic send: bad interface, MAC or address\n");
		return 2;
	}
	dport = (unsigned)strtoul(argv[6], NULL, 10);
	new_flows = strcmp(argv[7], "new") == 0;
	if (!new_flows && strcmp(argv[7], "single") != 0) {
		fprintf(stderr, "traffic send: mode is single or new\n");
		return 2;
	}
	count = strtoull(argv[8], NULL, 10);
	seconds = strtod(argv[9], NULL);
	cpu = atoi(argv[10]);
	seq = strtoull(argv[11], NULL, 10);
	if (count == 0 || seconds <= 0 || seconds > 60 || dport == 0 || dport > 65535) {
		fprintf(stderr, "traffic send: COUNT > 0, 0 < SECONDS <= 60, 0 < DST_PORT < 65536\n");
		return 2;
	}
	pin_cpu(cpu);

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 2;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) {
		perror("PACKET_QDISC_BYPASS");
		return 2;
	}
	{
		/* The source MAC: the interface's own (SIOCGIFHWADDR without ioctl headers: ask the socket). */
		struct sockaddr_ll bound = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex, .sll_protocol = 0 };
		socklen_t len = sizeof(bound);

		if (bind(fd, (struct sockaddr *)&bound, sizeof(bound)) || getsockname(fd, (struct sockaddr *)&bound, &len)) {
			perror("bind(AF_PACKET)");
			return 2;
		}
		memcpy(src_mac, bound.sll_addr, 6);
	}
	addr.sll_family = AF_PACKET;
	addr.sll_ifindex = (int)ifindex;
	addr.sll_halen = 6;
	memcpy(addr.sll_addr, dst_mac, 6);

	for (int i = 0; i < BATCH; i++) {
		build_frame(frames[i], dst_mac, src_mac, src_ip.s_addr, dst_ip.s_addr, 40000, (uint16_t)dport);
		iov[i].iov_base = frames[i];
		iov[i].iov_len = FRAME_LEN;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_name = &addr;
		msgs[i].msg_hdr.msg_namelen = sizeof(addr);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	while (sent < count && !stop_flag) {
		unsigned n = count - sent < BATCH ? (unsigned)(count - sent) : BATCH;
		int r;

		if (new_flows) {
			for (unsigned i = 0; i < n; i++, seq++) {
				uint32_t src = ntohl(src_ip.s_addr);
				uint8_t *ip = frames[i] + 14, *udp = ip + 20;
				uint16_t sport = (uint16_t)seq, c;

				src = (src & 0xff000000u) | 0x00800000u | (uint32_t)((seq >> 16) & 0x7fffffu);
				src = htonl(src);
				memcpy(ip + 12, &src, 4);
				ip[10] = 0;
				ip[11] = 0;
				c = ip_checksum(ip);
				ip[10] = (uint8_t)(c >> 8);
				ip[11] = (uint8_t)c;
				udp[0] = (uint8_t)(sport >> 8);
				udp[1] = (uint8_t)sport;
			}
		}
		r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("sendmmsg");
			return 2;
		}
		sent += (uint64_t)r;
		if ((sent & 1023) < BATCH && now_ns() >= deadline)
			break;
	}
	t1 = now_ns();
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	printf("sent %llu ns %llu cpu %llu\n", (unsigned long long)sent, (unsigned long long)(t1 - t0),
	       (unsigned long long)(c1 - c0));
	close(fd);
	return 0;
}

static int cmd_sink(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	static uint8_t bufs[BATCH][256];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	uint64_t received = 0;
	int fd, size = 8 << 20;
	struct sigaction sa = { .sa_handler = on_signal };

	int drain;

	if (argc != 5 || (strcmp(argv[4], "drain") && strcmp(argv[4], "hold"))) {
		fprintf(stderr, "usage: traffic sink PORT CPU drain|hold\n");
		return 2;
	}
	drain = strcmp(argv[4], "drain") == 0;
	pin_cpu(atoi(argv[3]));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 2;
	}
	if (!drain)
		size = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	addr.sin_port = htons((uint16_t)strtoul(argv[2], NULL, 10));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("bind");
		return 2;
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop_flag) {
		int r;

		if (!drain) {
			pause();
			continue;
		}
		r = recvmmsg(fd, msgs, BATCH, 0, NULL);
		if (r > 0)
			received += (uint64_t)r;
	}
	printf("received %llu\n", (unsigned long long)received);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "sink") == 0)
		return cmd_sink(argc, argv);
	fprintf(stderr, "usage: traffic send ... | traffic sink PORT CPU drain|hold\n");
	return 2;
}
