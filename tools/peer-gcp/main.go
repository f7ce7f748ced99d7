// Command peer-gcp is the go-control-plane peer of Herald's benchmarks (bench/peers.ts, bench/storm.ts):
// go-control-plane's ADS server (SotW and Delta) over two LinearCaches, one for CDS and one for EDS, that
// serves N clusters (svc-0 .. svc-N-1, EDS over ADS) with E endpoints each. The endpoints mirror what
// Herald's bench mesh translates to (three zones as localities with weights, 10.x.y.z:8080, HEALTHY,
// weight 1, a `herald` filter metadata with the pod name), so responses have about the same size.
// It is not part of Herald's runtime.
//
// stdout (one JSON object a line): {"type":"listening","port":P} once serving; then one reply per command.
// stdin commands:
//
//	update <id> <cluster> <endpoints>   builds that ClusterLoadAssignment, then hands it to the cache
//	                                    (LinearCache.UpdateResource); replies {"type":"updated","id","t0"}
//	                                    with t0 the CLOCK_MONOTONIC ns just before the hand-over
//	stats                               {"type":"stats","cpuUs","rssKb","hwmKb","goroutines"}
//	quit
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var (
	port      = flag.Int("port", 0, "listen port on 127.0.0.1 (0: any free port)")
	clusters  = flag.Int("clusters", 1, "N: clusters svc-0 .. svc-N-1")
	endpoints = flag.Int("endpoints", 20, "E: endpoints per cluster")
)

var zones = []string{"zone-a", "zone-b", "zone-c"}

func mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func cpuUs() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
}

func rssKb() (rss, hwm int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = v
			} else {
				hwm = v
			}
		}
	}
	return
}

func name(svc int) string { return "svc-" + strconv.Itoa(svc) }

// cla mirrors bench/common.ts endpoint(svc, i): 10.x.y.z:8080 with n = svc*4096 + i, zone i % 3.
func cla(svc, count int) *endpoint.ClusterLoadAssignment {
	byZone := map[string][]*endpoint.LbEndpoint{}
	for i := 0; i < count; i++ {
		n := svc*4096 + i
		ip := fmt.Sprintf("10.%d.%d.%d", (n>>16)&255, (n>>8)&255, n&255)
		pod, _ := structpb.NewStruct(map[string]any{"pod": fmt.Sprintf("default/svc-%d-%05s", svc, strconv.FormatInt(int64(i), 36))})
		z := zones[i%len(zones)]
		byZone[z] = append(byZone[z], &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: &core.Address{Address: &core.Address_SocketAddress{
				SocketAddress: &core.SocketAddress{Address: ip, PortSpecifier: &core.SocketAddress_PortValue{PortValue: 8080}},
			}}}},
			HealthStatus:        core.HealthStatus_HEALTHY,
			LoadBalancingWeight: wrapperspb.UInt32(1),
			Metadata:            &core.Metadata{FilterMetadata: map[string]*structpb.Struct{"herald": pod}},
		})
	}
	out := &endpoint.ClusterLoadAssignment{ClusterName: name(svc)}
	for _, z := range zones {
		eps := byZone[z]
		if len(eps) == 0 {
			continue
		}
		out.Endpoints = append(out.Endpoints, &endpoint.LocalityLbEndpoints{
			Locality:            &core.Locality{Zone: z},
			LbEndpoints:         eps,
			LoadBalancingWeight: wrapperspb.UInt32(uint32(len(eps))),
		})
	}
	return out
}

func edsCluster(svc int) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name(svc),
		ConnectTimeout:       durationpb.New(time.Second),
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig: &cluster.Cluster_EdsClusterConfig{EdsConfig: &core.ConfigSource{
			ResourceApiVersion:    core.ApiVersion_V3,
			ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
		}},
	}
}

func main() {
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	cds := map[string]types.Resource{}
	eds := map[string]types.Resource{}
	for s := 0; s < *clusters; s++ {
		cds[name(s)] = edsCluster(s)
		eds[name(s)] = cla(s, *endpoints)
	}
	cdsCache := cache.NewLinearCache(resource.ClusterType, cache.WithInitialResources(cds))
	edsCache := cache.NewLinearCache(resource.EndpointType, cache.WithInitialResources(eds))
	mux := &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return r.GetTypeUrl() },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return r.GetTypeUrl() },
		Caches:        map[string]cache.Cache{resource.ClusterType: cdsCache, resource.EndpointType: edsCache},
	}
	srv := server.NewServer(context.Background(), mux, server.CallbackFuncs{})
	g := grpc.NewServer(grpc.MaxConcurrentStreams(1 << 20))
	discovery.RegisterAggregatedDiscoveryServiceServer(g, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer-gcp:", err)
		os.Exit(1)
	}
	go func() {
		if err := g.Serve(lis); err != nil {
			fmt.Fprintln(os.Stderr, "peer-gcp:", err)
			os.Exit(1)
		}
	}()
	_ = out.Encode(map[string]any{"type": "listening", "port": lis.Addr().(*net.TCPAddr).Port})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "update":
			if len(f) != 4 {
				_ = out.Encode(map[string]any{"type": "error", "message": "usage: update <id> <cluster> <endpoints>"})
				continue
			}
			id, _ := strconv.ParseInt(f[1], 10, 64)
			svc, err1 := strconv.Atoi(strings.TrimPrefix(f[2], "svc-"))
			count, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil || svc < 0 || svc >= *clusters || count < 0 {
				_ = out.Encode(map[string]any{"type": "error", "message": "update: bad cluster or count"})
				continue
			}
			next := cla(svc, count)
			t0 := mono()
			if err := edsCache.UpdateResource(name(svc), next); err != nil {
				_ = out.Encode(map[string]any{"type": "error", "message": err.Error()})
				continue
			}
			_ = out.Encode(map[string]any{"type": "updated", "id": id, "t0": t0})
		case "stats":
			rss, hwm := rssKb()
			_ = out.Encode(map[string]any{"type": "stats", "cpuUs": cpuUs(), "rssKb": rss, "hwmKb": hwm, "goroutines": runtime.NumGoroutine()})
		case "quit":
			os.Exit(0)
		default:
			_ = out.Encode(map[string]any{"type": "error", "message": "unknown command " + f[0]})
		}
	}
	os.Exit(0)
}
