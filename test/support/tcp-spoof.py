# Spoofed TCP segments for the window test (test/kernel/tcp-window-traffic.test.ts), run inside a
# test namespace: COUNT segments of one flow, SRC:SPORT -> DST:DPORT, each an RST or a SYN with a
# sequence number drawn from [BASE, BASE + SPAN) mod 2^32 (SPAN 1: exactly BASE).
# Usage: python3 tcp-spoof.py SRC SPORT DST DPORT rst|syn COUNT BASE SPAN   (needs CAP_NET_RAW)
import random
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def segment(src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int, ident: int) -> bytes:
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, 5 << 4, flags, 64240, 0, 0)
    pseudo = src + dst + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), ident, 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst)
    return ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:] + tcp


def main() -> None:
    src_text, sport, dst_text, dport, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    count, base, span = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
    if kind not in ('rst', 'syn') or not 0 < count <= 100_000 or not 0 < span <= 2 ** 32:
        sys.exit('kind must be rst or syn, count 1 to 100,000, span 1 to 2^32')
    flags = 0x04 if kind == 'rst' else 0x02
    src, dst = socket.inet_aton(src_text), socket.inet_aton(dst_text)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(count):
        seq = (base + random.randrange(span)) % 2 ** 32
        sock.sendto(segment(src, dst, sport, dport, flags, seq, i & 0xFFFF), (dst_text, 0))
    print('sent', count)


main()
