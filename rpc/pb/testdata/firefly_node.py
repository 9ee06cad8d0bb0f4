"""A node shaped as Python Firefly's (firefly.distributed: RemoteObject,
ProxyReference; firefly.utils.services: Service), for firefly_test.go.

Usage: python3 firefly_node.py NAME PORT

It joins the root at 127.0.0.1:PORT with getRootObject and
callRemote('takeProxy', name, proxy), calls the root's targets with
callRemote('callTarget', command, *args, **kw), and serves the root's
callChild(command, *args, **kw) from its own service. It prints what it sees
and exits when its connection ends.
"""

import sys

from twisted.internet import defer, reactor
from twisted.spread import pb


class Service:
    """firefly.utils.services.Service: targets by key."""

    def __init__(self, name):
        self.name = name
        self.targets = {}

    def mapTarget(self, target, key=None):
        self.targets[key if key is not None else target.__name__] = target

    def callTarget(self, key, *args, **kw):
        target = self.targets.get(key)
        if target is None:
            print("no target", repr(key))
            return None
        return target(*args, **kw)


class ProxyReference(pb.Referenceable):
    """firefly.distributed.reference.ProxyReference."""

    def __init__(self, service):
        self._service = service

    def remote_callChild(self, command, *arg, **kw):
        return self._service.callTarget(command, *arg, **kw)


class RemoteObject:
    """firefly.distributed.node.RemoteObject."""

    def __init__(self, name, service):
        self._name = name
        self._factory = pb.PBClientFactory()
        self._reference = ProxyReference(service)

    def connect(self, host, port):
        reactor.connectTCP(host, port, self._factory)

    @defer.inlineCallbacks
    def takeProxy(self):
        root = yield self._factory.getRootObject()
        root.notifyOnDisconnect(lambda _: (print("lost connection"), reactor.stop()))
        yield root.callRemote("takeProxy", self._name, self._reference)
        return root

    def callRemote(self, root, commandId, *args, **kw):
        return root.callRemote("callTarget", commandId, *args, **kw)


def main(name, port):
    service = Service(name)

    def greet(who):
        return "hello %s from %s" % (who, name)

    service.mapTarget(greet)
    service.mapTarget(lambda x: x * 7, 7)
    node = RemoteObject(name, service)
    node.connect("127.0.0.1", port)

    @defer.inlineCallbacks
    def run():
        root = yield node.takeProxy()
        print("joined", flush=True)
        got = yield node.callRemote(root, "double", 21)
        print("callTarget double", got, flush=True)
        got = yield node.callRemote(root, "tagged", "x", tag="y")
        print("callTarget tagged", got, flush=True)
        try:
            yield node.callRemote(root, "nosuch")
        except Exception as e:
            print("callTarget nosuch failed:", type(e).__name__, flush=True)

    def crashed(f):
        print("FAIL", f.getTraceback(), flush=True)
        reactor.stop()

    run().addErrback(crashed)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
