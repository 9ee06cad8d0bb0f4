"""A root shaped as Python Firefly's (firefly.distributed.root.PBRoot with
its ChildsManager; firefly.utils.services.Service), for firefly_test.go.

Usage: python3 firefly_root.py PORT

It prints "listening PORT"; when a node joins with takeProxy(name,
transport) it calls it back with callChild('greet', 'py') and
callChild(7, 6), printing each result, and serves the node's
callTarget(command, *args, **kw) from its own service (double(n),
tagged(s, tag=None)).
"""

import sys

from twisted.internet import defer, reactor
from twisted.spread import pb


class Service:
    def __init__(self, name):
        self.name = name
        self.targets = {}

    def mapTarget(self, target, key=None):
        self.targets[key if key is not None else target.__name__] = target

    def callTarget(self, key, *args, **kw):
        target = self.targets.get(key)
        if target is None:
            raise pb.Error("no target %r" % (key,))
        return target(*args, **kw)


class Child:
    def __init__(self, cid, name, transport):
        self.id, self.name, self.transport = cid, name, transport

    def callbackChild(self, *args, **kw):
        return self.transport.callRemote("callChild", *args, **kw)


class PBRoot(pb.Root):
    def __init__(self, service):
        self.service = service
        self.childs = {}

    def remote_takeProxy(self, name, transport):
        child = Child(len(self.childs) + 1, name, transport)
        self.childs[name] = child
        self.doChildConnect(name, transport)

    @defer.inlineCallbacks
    def doChildConnect(self, name, transport):
        child = self.childs[name]
        got = yield child.callbackChild("greet", "py")
        print("callChild greet", got, flush=True)
        got = yield child.callbackChild(7, 6)
        print("callChild 7", got, flush=True)

    def remote_callTarget(self, command, *args, **kw):
        return self.service.callTarget(command, *args, **kw)


def double(n):
    return 2 * n


def tagged(s, tag=None):
    return "%s/%s" % (s, tag)


service = Service("root")
service.mapTarget(double)
service.mapTarget(tagged)
port = reactor.listenTCP(int(sys.argv[1]), pb.PBServerFactory(PBRoot(service)), interface="127.0.0.1")
print("listening", port.getHost().port, flush=True)
reactor.run()
