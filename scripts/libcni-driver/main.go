// lhcni: drives a CNI network through libcni, the library inside containerd's go-cni, CRI-O and cnitool, so the
// end-to-end tests see leasehold exactly as those runtimes do (config loading, prevResult chaining, result
// cache, CHECK with the cached result, version negotiation, result parsing).
//
//	lhcni add|check|del|validate NETWORK NETNS_PATH
//
// Like cnitool, it reads NETCONFPATH (config dir), CNI_PATH, CNI_IFNAME (default eth0), CNI_ARGS and CAP_ARGS
// (JSON capability args); besides, CNI_CONTAINERID (default: cnitool's hash of the netns path) and
// CNI_CACHE_DIR (libcni's result cache, default /var/lib/cni). add prints the result libcni parsed, as the
// plugin's version and converted to the current (1.0.0) types; errors go to stderr with exit status 1.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "lhcni: "+format+"\n", a...)
	os.Exit(1)
}

// failCNI reports a failed verb with the CNI error code of the plugin that failed, which libcni keeps.
func failCNI(verb string, err error) {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		fail("%s: %v (code %d)", verb, err, cniErr.Code)
	}
	fail("%s: %v", verb, err)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: lhcni add|check|del|validate NETWORK NETNS_PATH")
	}
	verb, name, netns := os.Args[1], os.Args[2], os.Args[3]

	list, err := libcni.LoadConfList(env("NETCONFPATH", "/etc/cni/net.d"), name)
	if err != nil {
		fail("loading network %q: %v", name, err)
	}

	var capArgs map[string]interface{}
	if s := os.Getenv("CAP_ARGS"); s != "" {
		if err := json.Unmarshal([]byte(s), &capArgs); err != nil {
			fail("CAP_ARGS: %v", err)
		}
	}
	var cniArgs [][2]string
	if s := os.Getenv("CNI_ARGS"); s != "" {
		for _, kv := range strings.Split(s, ";") {
			parts := strings.SplitN(kv, "=", 2)
			if len(parts) != 2 {
				fail("CNI_ARGS: %q is not KEY=VALUE", kv)
			}
			cniArgs = append(cniArgs, [2]string{parts[0], parts[1]})
		}
	}
	containerID := os.Getenv("CNI_CONTAINERID")
	if containerID == "" {
		containerID = fmt.Sprintf("cnitool-%x", sha512.Sum512([]byte(netns)))[:20]
	}
	rt := &libcni.RuntimeConf{
		ContainerID:    containerID,
		NetNS:          netns,
		IfName:         env("CNI_IFNAME", "eth0"),
		Args:           cniArgs,
		CapabilityArgs: capArgs,
	}
	cninet := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), env("CNI_CACHE_DIR", "/var/lib/cni"), nil)
	ctx := context.Background()

	switch verb {
	case "add":
		res, err := cninet.AddNetworkList(ctx, list, rt)
		if err != nil {
			failCNI("ADD", err)
		}
		cur, err := current.NewResultFromResult(res)
		if err != nil {
			fail("converting the %s result: %v", res.Version(), err)
		}
		out, _ := json.Marshal(map[string]interface{}{"version": res.Version(), "result": res, "current": cur})
		fmt.Println(string(out))
	case "check":
		if err := cninet.CheckNetworkList(ctx, list, rt); err != nil {
			failCNI("CHECK", err)
		}
	case "del":
		if err := cninet.DelNetworkList(ctx, list, rt); err != nil {
			failCNI("DEL", err)
		}
	case "validate":
		caps, err := cninet.ValidateNetworkList(ctx, list)
		if err != nil {
			failCNI("VALIDATE", err)
		}
		out, _ := json.Marshal(map[string]interface{}{"capabilities": caps})
		fmt.Println(string(out))
	default:
		fail("unknown verb %q (add, check, del, validate)", verb)
	}
}
