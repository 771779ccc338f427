# A bounded SYN flood for the flood test (test/kernel/monitor-audit-flood.test.ts), run inside
# a test namespace: COUNT spoofed sources (10.100.0.1 upwards), one SYN each to DST:PORT, the
# whole set sent PASSES times, as the SYN retransmissions of real clients would (so the flood's
# table entries are touched more than once, like an established flow's).
# Usage: python3 synflood.py DST PORT COUNT PASSES   (needs CAP_NET_RAW)
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


def syn(src: bytes, dst: bytes, sport: int, dport: int, seq: int) -> bytes:
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), seq & 0xFFFF, 0, 64, socket.IPPROTO_TCP, 0, src, dst)
    return ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:] + tcp


def main() -> None:
    dst_text, port, count, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if not 0 < count <= 1_000_000 or not 0 < passes <= 10:
        sys.exit('count must be 1 to 1,000,000 and passes 1 to 10')
    dst = socket.inet_aton(dst_text)
    frames = []
    for i in range(count):
        src = socket.inet_aton('10.%d.%d.%d' % (100 + (i >> 16) % 100, (i >> 8) & 255, (i & 255) or 1))
        frames.append(syn(src, dst, 1024 + i % 60000, port, i))
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for _ in range(passes):
        for frame in frames:
            sock.sendto(frame, (dst_text, 0))
    print('sent', count * passes)


main()
