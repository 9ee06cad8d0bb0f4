"""Twisted's own cred client for cred_test.go: PBClientFactory.login
against a Go pb.Portal at 127.0.0.1:PORT.

Usage: python3 cred_client.py PORT

It logs in as alice with a wrong password (expecting UnauthorizedLogin),
then with the right one and a mind, calls the avatar's whoami, echo and
greetMind (which calls the mind back), and prints one line per result,
then "done".
"""

import sys

from twisted.cred import credentials, error
from twisted.internet import defer, reactor
from twisted.spread import pb


class Mind(pb.Referenceable):
    def remote_hello(self, name):
        return "mind greets " + name


@defer.inlineCallbacks
def main(port):
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    d = factory.login(credentials.UsernamePassword(b"alice", b"wrong"))
    d.addCallbacks(
        lambda _: "logged in",
        lambda f: "refused " + ("UnauthorizedLogin" if f.check(error.UnauthorizedLogin) else str(f.type)))
    print("wrong password:", (yield d), flush=True)
    avatar = yield factory.login(credentials.UsernamePassword(b"alice", b"secret"), client=Mind())
    print("whoami", (yield avatar.callRemote("whoami")), flush=True)
    print("echo", repr((yield avatar.callRemote("echo", [1, "two", b"three"]))), flush=True)
    print("greetMind", (yield avatar.callRemote("greetMind")), flush=True)
    print("done", flush=True)


def crashed(f):
    print("FAIL", f.getTraceback(), flush=True)


main(int(sys.argv[1])).addErrback(crashed).addBoth(lambda _: reactor.stop())
reactor.run()
