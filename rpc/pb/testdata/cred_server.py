"""A Twisted cred portal over PB for cred_test.go: PBServerFactory(portal)
with the user alice (password "secret") and a realm whose avatar has
perspective_whoami(), perspective_echo(x) and perspective_greetMind(),
which calls the client's mind with callRemote("hello", name).

Usage: python3 cred_server.py PORT

It prints "listening PORT", and "logout NAME" when an avatar logs out.
"""

import sys

from twisted.cred import checkers, portal
from twisted.internet import reactor
from twisted.spread import pb
from zope.interface import implementer


class Avatar(pb.Avatar):
    def __init__(self, name, mind):
        self.name, self.mind = name, mind

    def perspective_whoami(self):
        return self.name

    def perspective_echo(self, x):
        return x

    def perspective_greetMind(self):
        return self.mind.callRemote("hello", self.name)


@implementer(portal.IRealm)
class Realm:
    def requestAvatar(self, avatarId, mind, *interfaces):
        assert pb.IPerspective in interfaces
        name = avatarId.decode() if isinstance(avatarId, bytes) else avatarId
        return pb.IPerspective, Avatar(name, mind), lambda: print("logout", name, flush=True)


db = checkers.InMemoryUsernamePasswordDatabaseDontUse()
db.addUser(b"alice", b"secret")
factory = pb.PBServerFactory(portal.Portal(Realm(), [db]))
port = reactor.listenTCP(int(sys.argv[1]), factory, interface="127.0.0.1")
print("listening", port.getHost().port, flush=True)
reactor.run()
