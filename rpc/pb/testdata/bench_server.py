"""The Twisted side of bench_test.go: a root with add(a, b).

Usage: python3 bench_server.py PORT
"""

import sys

from twisted.internet import reactor
from twisted.spread import pb


class Root(pb.Root):
    def remote_add(self, a, b):
        return a + b


port = reactor.listenTCP(int(sys.argv[1]), pb.PBServerFactory(Root()), interface="127.0.0.1")
print("listening", port.getHost().port, flush=True)
reactor.run()
