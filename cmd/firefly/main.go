// Command firefly runs a Firefly cluster from its config.json.
//
//	firefly [-config config.json]              start the master and every server, each a child process
//	firefly -config config.json -restart       the same, restarting a failed server with backoff
//	firefly -config config.json -skip a,b      the same, but for servers a and b, which run elsewhere
//	firefly -config config.json -master        run only the master
//	firefly -config config.json -server NAME   run only server NAME
//	firefly stop -config config.json           stop every server, then the master (admin /stop)
//	firefly reload -config config.json         run every server's reload hook (admin /reloadmodule)
//	firefly status -config config.json [-json] the servers as the master sees them (admin /cluster)
//	firefly methods -addr host:port            list a server's remote methods (introspection)
//	firefly call -addr host:port -method add -args '[1,2]'
//	                                           call one, arguments and result in JSON
//	firefly client -addr host:port -command 1001 -body 'game1 alice'
//	                                           a game client: send a packet to a netport, print the reply
//	firefly methods -config config.json -server gate -targets
//	firefly call -config config.json -server gate -target forward -args '[...]'
//	                                           the same for a root's service targets, as a node
//
// Every subcommand prints its flags with -h. The processes of a cluster log
// warnings and errors; -v adds what the cluster does, -debug every failed
// attempt. -introspect lets clients list the roots' targets; -dns
// host:port looks the config's DNS names (a remoteport's "dns", a roothost)
// up at that DNS server.
//
// Servers run the apps compiled into this binary (see apps.go): the example
// cluster's, by the config's "app" key (which wins over the server's name;
// one that names no app of this binary stops the start with a config
// error). Start it with
//
//	go run ./cmd/firefly -config examples/cluster/config.json
//
// The children of the default start are this binary again, run with
// -master or -server NAME; their output is shown prefixed with their name.
// A child that fails (a non-zero exit: a port in use, a bad config) is
// reported at once, and the launch stops every other child and exits 1;
// with -restart the failed child is started again after a delay that
// doubles with each failure in a row (0.2 s up to 10 s) instead.
// Logs go to stderr (-v for debug logs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// A command runs a subcommand with the arguments after its name, until it
// is done or ctx ends (SIGINT, SIGTERM).
type command func(ctx context.Context, args []string) error

// commands are the subcommands by name; "" is what runs without one. (It
// is filled in init because the usage message lists it.)
var commands map[string]command

func init() {
	commands = map[string]command{
		"":       runCluster,
		"stop":   stopCluster,
		"reload": reloadCluster,
		"call": func(ctx context.Context, args []string) error {
			return callCommand(ctx, args, os.Stdout)
		},
		"methods": func(ctx context.Context, args []string) error {
			return methodsCommand(ctx, args, os.Stdout)
		},
		"client": func(ctx context.Context, args []string) error {
			return clientCommand(ctx, args, os.Stdout)
		},
		"status": func(ctx context.Context, args []string) error {
			return statusCommand(ctx, args, os.Stdout)
		},
	}
}

// usageError reports bad command-line arguments (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:])
	stop()
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "firefly:", err)
		fmt.Fprintf(os.Stderr, "commands: %s\n", strings.Join(commandNames(), ", "))
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "firefly:", err)
		os.Exit(1)
	}
}

// dispatch runs the subcommand named by args[0], or the default one when
// args is empty or starts with a flag.
func dispatch(ctx context.Context, args []string) error {
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		return &usageError{fmt.Sprintf("unknown command %q", name)}
	}
	return cmd(ctx, args)
}

func commandNames() []string {
	var names []string
	for name := range commands {
		if name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// newFlags returns a flag set for subcommand name that reports errors
// instead of exiting.
func newFlags(name string) *flag.FlagSet {
	full := strings.TrimSpace("firefly " + name)
	fs := flag.NewFlagSet(full, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		if name == "" {
			fmt.Fprintf(w, "usage: firefly [-config file] [-master | -server name]\n")
			fmt.Fprintf(w, "       firefly <command> [flags]   (commands: %s)\n", strings.Join(commandNames(), ", "))
		} else {
			fmt.Fprintf(w, "usage: %s [flags]\n", full)
		}
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
