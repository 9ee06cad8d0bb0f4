"""Load for bench_test.go: CONC calls of root.add(1, 2) kept in flight on
one connection for SECONDS, then prints "calls N".

Usage: python3 bench_client.py PORT CONC SECONDS
"""

import sys
import time

from twisted.internet import defer, reactor
from twisted.spread import pb


@defer.inlineCallbacks
def main(port, conc, seconds):
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    root = yield factory.getRootObject()
    deadline = time.monotonic() + seconds
    cpu0 = time.process_time()
    count = [0]

    @defer.inlineCallbacks
    def loop():
        while time.monotonic() < deadline:
            yield root.callRemote("add", 1, 2)
            count[0] += 1

    yield defer.gatherResults([loop() for _ in range(conc)])
    print("calls", count[0], time.process_time() - cpu0, flush=True)
    reactor.stop()


main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
reactor.run()
