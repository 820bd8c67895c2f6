#!/usr/bin/env python3
# 1,000 requests in flight in rpc-testd, then 200,000 $/cancelRequest for
# unknown ids, then one echo: prints how long until the echo is answered
# (finding 11). 1,000 stay under the server's 1,024 running requests: past
# that, the probe echo would wait behind ten-minute sleeps.
# Usage: bench/cancel-flood.py build/tests/protocol/rpc-testd [in_flight]
import subprocess, sys, time, json
testd = sys.argv[1]
p = subprocess.Popen([testd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
buf = []
in_flight = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
for i in range(in_flight):
    buf.append('{"jsonrpc":"2.0","id":%d,"method":"sleep","params":{"ms":600000}}\n' % i)
p.stdin.write(''.join(buf).encode()); p.stdin.flush()
# wait until all are dispatched: probe
p.stdin.write(b'{"jsonrpc":"2.0","id":"p0","method":"echo"}\n'); p.stdin.flush()
p.stdout.readline()
cancels = ''.join('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":%d}}\n' % (100000 + i) for i in range(200000)).encode()
t0 = time.time()
p.stdin.write(cancels)
p.stdin.write(b'{"jsonrpc":"2.0","id":"p1","method":"echo"}\n'); p.stdin.flush()
line = p.stdout.readline()
t1 = time.time()
print("200k unknown-id cancels with %d in flight: %.2f s" % (in_flight, t1 - t0), line[:40])
p.kill()
