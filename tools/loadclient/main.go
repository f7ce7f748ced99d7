// Command loadclient opens P ADS streams (SotW or Delta) to an xDS server, each on its own HTTP/2
// connection like a sidecar Envoy, subscribes (CDS wildcard and/or EDS names), ACKs every response at
// once (h2.go: one goroutine and one write per response), and times how long each published update takes to reach and be ACKed by every subscribed stream.
// It is Herald's benchmark client (bench/peers.ts, bench/storm.ts, bench/soak.ts); it is not part of
// Herald's runtime.
//
// Responses are scanned, not unmarshalled (wire.go): the envelope's version, type URL and nonce, and for
// EDS each ClusterLoadAssignment's cluster name and, while an update is expected, its endpoint count: the
// "marker" that matches a response to a published update.
//
// Stream i subscribes to EDS names prefix+((i + j*stride) mod G) for j < K (stride = G/K), so every
// cluster has the same number of subscribers when K divides G.
//
// Times are CLOCK_MONOTONIC nanoseconds (system-wide, so a server process on this machine can hand its own
// "update handed over" time to `start`).
//
// stdout (one JSON object a line):
//
//	{"type":"connected", ...}   once every stream holds its first CDS and EDS (or the connect timeout passed)
//	{"type":"armed","id":N}     after `expect`
//	{"type":"update", ...}      once every subscriber of the expected cluster ACKed a response with the marker
//	{"type":"cpu", ...}         after `cpu`
//	{"type":"pending", ...}     after `pending`
//
// stdin commands (one a line):
//
//	expect <id> <cluster> <marker>   an update of <cluster> to <marker> endpoints is about to be published
//	start <id> <monotonic ns>        when the server was handed that update (latencies are measured from it)
//	cpu | pending | quit
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	cdsURL = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	edsURL = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	ads    = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
)

const (
	typeOther = iota
	typeCDS
	typeEDS
)

var (
	addr       = flag.String("addr", "127.0.0.1:18000", "xDS server host:port")
	nStreams   = flag.Int("n", 1, "P: streams (proxies), one HTTP/2 connection each")
	protocol   = flag.String("protocol", "sotw", "sotw or delta")
	subCDS     = flag.Bool("cds", true, "subscribe to CDS (wildcard) as well as EDS")
	groups     = flag.Int("clusters", 1, "G: EDS names are <prefix>0 .. <prefix>G-1")
	perStream  = flag.Int("eds", 1, "K: EDS names each stream subscribes to (K <= G)")
	prefix     = flag.String("prefix", "svc-", "EDS name prefix")
	suffix     = flag.String("suffix", "", "EDS name suffix (e.g. .default for Kubernetes services: svc-0.default)")
	nodePrefix = flag.String("node", "bench", "node ids are <node>-<i>")
	window     = flag.Int("window", 200, "streams waiting for their first configuration at a time; 0 = all at once")
	connectTO  = flag.Duration("connect-timeout", 5*time.Minute, "give up waiting for first configurations after this")
	zone       = flag.String("zone", "", "node locality zone")
	retries    = flag.Int("retries", 20, "reconnect attempts of a stream that has not got its first configuration yet")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile here from connected to quit")
)

// ------------------------------------------------------------------------------------------------ clock

var (
	monoBase  int64
	wallBase  = time.Now()
	cpuAtBoot = cpuUs()
)

func init() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	monoBase = ts.Nano()
}

// mono is CLOCK_MONOTONIC in ns, read through Go's vDSO clock (runtime nanotime is CLOCK_MONOTONIC).
func mono() int64 { return monoBase + int64(time.Since(wallBase)) }

// cpuUs is this process's user+system CPU in µs (getrusage).
func cpuUs() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
}

// rssKb is VmRSS and VmHWM of this process from /proc/self/status.
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

// ----------------------------------------------------------------------------------------------- output

var outMu sync.Mutex
var out = json.NewEncoder(os.Stdout)

func emit(v any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(v)
}

type dist struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// distMs: nearest-rank percentiles of (t - from) in ms.
func distMs(ts []int64, from int64) dist {
	if len(ts) == 0 {
		return dist{}
	}
	v := make([]int64, len(ts))
	for i, t := range ts {
		v[i] = t - from
	}
	sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
	at := func(p float64) float64 {
		rank := int(p/100*float64(len(v))+0.999999) - 1
		if rank < 0 {
			rank = 0
		}
		if rank >= len(v) {
			rank = len(v) - 1
		}
		return float64(v[rank]) / 1e6
	}
	return dist{P50: at(50), P99: at(99), Max: float64(v[len(v)-1]) / 1e6}
}

// ---------------------------------------------------------------------------------------- expectations

type expectation struct {
	id        int64
	cluster   int
	marker    int
	remaining int
	done      []bool
	recv, ack []int64
	start     int64
	cpu0      int64
	cpu1      int64
	bytes0    int64
	bytes1    int64
	completed bool
}

// registry owns every expectation; all access holds mu. pending mirrors "some expectation is open" for
// the streams' lock-free check.
type registry struct {
	mu        sync.Mutex
	byCluster map[int][]*expectation
	byID      map[int64]*expectation
	pending   atomic.Int64
}

var reg = registry{byCluster: map[int][]*expectation{}, byID: map[int64]*expectation{}}

func (r *registry) expect(id int64, cluster, marker int) error {
	if cluster < 0 || cluster >= len(subscribers) || subscribers[cluster] == 0 {
		return fmt.Errorf("no stream subscribes to cluster index %d", cluster)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byID[id]; dup {
		return fmt.Errorf("expectation %d exists", id)
	}
	n := subscribers[cluster]
	e := &expectation{id: id, cluster: cluster, marker: marker, remaining: n, done: make([]bool, *nStreams),
		recv: make([]int64, 0, n), ack: make([]int64, 0, n), cpu0: cpuUs(), bytes0: edsBytes.Load()}
	r.byID[id] = e
	r.byCluster[cluster] = append(r.byCluster[cluster], e)
	r.pending.Add(1)
	return nil
}

func (r *registry) start(id int64, at int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.byID[id]
	if e == nil {
		emit(map[string]any{"type": "error", "message": fmt.Sprintf("start: no expectation %d", id)})
		return
	}
	e.start = at
	if e.completed {
		r.finish(e)
	}
}

// match records that stream s received (at) and ACKed (ackAt) cluster at `marker` endpoints: it completes
// the newest open expectation of that marker and every older one of the cluster (a stream that holds a
// newer state has converged past the older ones).
func (r *registry) match(s, cluster, marker int, at, ackAt int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.byCluster[cluster]
	hit := -1
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].marker == marker && !list[i].done[s] {
			hit = i
			break
		}
	}
	if hit < 0 {
		return
	}
	kept := list[:0]
	for i, e := range list {
		if i <= hit && !e.done[s] {
			e.done[s] = true
			e.recv = append(e.recv, at)
			e.ack = append(e.ack, ackAt)
			e.remaining--
			if e.remaining == 0 {
				e.completed = true
				e.cpu1 = cpuUs()
				e.bytes1 = edsBytes.Load()
				r.pending.Add(-1)
				if e.start != 0 {
					r.finish(e)
				}
				continue
			}
		}
		kept = append(kept, e)
	}
	for i := len(kept); i < len(list); i++ {
		list[i] = nil
	}
	r.byCluster[cluster] = kept
}

func (r *registry) finish(e *expectation) {
	delete(r.byID, e.id)
	emit(map[string]any{
		"type": "update", "id": e.id, "cluster": *prefix + strconv.Itoa(e.cluster) + *suffix, "marker": e.marker,
		"n": len(e.ack), "recvMs": distMs(e.recv, e.start), "ackMs": distMs(e.ack, e.start),
		"cpuUs": e.cpu1 - e.cpu0, "bytes": e.bytes1 - e.bytes0,
	})
}

func (r *registry) report() {
	r.mu.Lock()
	defer r.mu.Unlock()
	open := []map[string]any{}
	for _, e := range r.byID {
		open = append(open, map[string]any{"id": e.id, "cluster": e.cluster, "marker": e.marker, "remaining": e.remaining, "started": e.start != 0})
	}
	emit(map[string]any{"type": "pending", "open": open})
}

// --------------------------------------------------------------------------------------------- streams

var (
	subscribers []int // per cluster index: how many streams subscribe to it
	stride      int
	edsBytes    atomic.Int64
	streamErrs  atomic.Int64
	reconnects  atomic.Int64
)

type marker struct{ cluster, endpoints int }

// response is what the codec extracts from one DiscoveryResponse or DeltaDiscoveryResponse.
type response struct {
	s       *stream
	typ     int
	typeURL string // only for types other than CDS and EDS
	version []byte
	nonce   []byte
	nres    int
	markers []marker
	size    int
}

func (r *response) parse(b []byte) error {
	r.size = len(b)
	r.typ, r.typeURL, r.nres = typeOther, "", 0
	r.version, r.nonce, r.markers = r.version[:0], r.nonce[:0], r.markers[:0]
	delta := r.s.delta
	rd := reader{b: b}
	for rd.more() {
		f, wt := rd.tag()
		switch {
		case f == 1 && wt == wireLen && !delta:
			r.version = append(r.version, rd.bytes()...)
		case f == 2 && wt == wireLen:
			rd.bytes()
			r.nres++
		case f == 4 && wt == wireLen:
			u := rd.bytes()
			switch string(u) {
			case cdsURL:
				r.typ = typeCDS
			case edsURL:
				r.typ = typeEDS
			default:
				r.typeURL = string(u)
			}
		case f == 5 && wt == wireLen:
			r.nonce = append(r.nonce, rd.bytes()...)
		default:
			rd.skip(wt)
		}
	}
	if rd.err != nil {
		return rd.err
	}
	if r.typ != typeEDS {
		return nil
	}
	edsBytes.Add(int64(len(b)))
	open := reg.pending.Load() > 0
	if r.s.ready.Load() && !open {
		return nil
	}
	rd = reader{b: b}
	for rd.more() {
		f, wt := rd.tag()
		if f != 2 || wt != wireLen {
			rd.skip(wt)
			continue
		}
		res := rd.bytes()
		var err error
		if delta {
			if res, err = deltaResourceAny(res); err != nil {
				return err
			}
		}
		v, err := anyValue(res)
		if err != nil {
			return err
		}
		name, count, err := claMarker(v, open)
		if err != nil {
			return err
		}
		idx := clusterIndex(name)
		if idx >= 0 {
			r.markers = append(r.markers, marker{idx, count})
		}
	}
	return rd.err
}

func clusterIndex(name []byte) int {
	p, sfx := *prefix, *suffix
	if len(name) <= len(p)+len(sfx) || string(name[:len(p)]) != p || string(name[len(name)-len(sfx):]) != sfx {
		return -1
	}
	n := 0
	for _, c := range name[len(p) : len(name)-len(sfx)] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	if n >= len(subscribers) {
		return -1
	}
	return n
}

type stream struct {
	i     int
	delta bool
	names []int // EDS cluster indices
	// namesField: the SotW resource_names fields (3) of the EDS subscription, pre-encoded.
	namesField []byte
	ack        []byte // the ACK being sent (reused)
	ready      atomic.Bool
	seen       map[int]struct{} // EDS names received before ready
	gotCDS     bool
}

// run keeps the stream open. Until the stream holds its first configuration, a failed attempt is retried
// (as Envoy does) after a jittered backoff, at most -retries times; reconnects counts them. A stream that
// fails after that is counted in streamErrs and not reopened.
func (s *stream) run(onReady func(ok bool, at int64)) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := s.attempt(onReady)
		if s.ready.Load() || attempt >= *retries {
			if !s.ready.Load() {
				onReady(false, 0)
			}
			s.fail(err)
			return
		}
		reconnects.Add(1)
		time.Sleep(backoff/2 + time.Duration(rand.Int64N(int64(backoff))))
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

// attempt opens one connection and stream and serves it until it fails.
func (s *stream) attempt(onReady func(ok bool, at int64)) error {
	method := ads + "StreamAggregatedResources"
	if s.delta {
		method = ads + "DeltaAggregatedResources"
	}
	c, err := dialH2(*addr, method)
	if err != nil {
		return err
	}
	defer c.close()
	node := encodeNode(*nodePrefix+"-"+strconv.Itoa(s.i), "bench", *zone, "envoy")
	if *subCDS {
		err = c.send(s.initial(node, cdsURL, false))
	}
	if err == nil {
		err = c.send(s.initial(node, edsURL, true))
	}
	if err == nil {
		err = c.flush()
	}
	if err != nil {
		return err
	}
	s.gotCDS = false
	s.seen = map[int]struct{}{}
	resp := &response{s: s}
	onMsg := func(b []byte) error {
		at := mono()
		if err := resp.parse(b); err != nil {
			return err
		}
		if err := c.send(s.ackFor(resp)); err != nil {
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		ackAt := mono()
		switch resp.typ {
		case typeCDS:
			s.gotCDS = true
		case typeEDS:
			if !s.ready.Load() {
				for _, m := range resp.markers {
					s.seen[m.cluster] = struct{}{}
				}
			}
			if reg.pending.Load() > 0 {
				for _, m := range resp.markers {
					reg.match(s.i, m.cluster, m.endpoints, at, ackAt)
				}
			}
		}
		if !s.ready.Load() && (s.gotCDS || !*subCDS) && len(s.seen) >= len(s.names) {
			s.ready.Store(true)
			s.seen = nil
			onReady(true, ackAt)
		}
		return nil
	}
	for {
		if err := c.recv(onMsg); err != nil {
			return err
		}
	}
}

func (s *stream) fail(err error) {
	if streamErrs.Add(1) <= 3 {
		fmt.Fprintf(os.Stderr, "loadclient: stream %d: %v\n", s.i, err)
	}
}

// initial is the stream's first request of a type. DiscoveryRequest { node = 2; resource_names = 3;
// type_url = 4 }; DeltaDiscoveryRequest { node = 1; type_url = 2; resource_names_subscribe = 3 }.
func (s *stream) initial(node []byte, typeURL string, eds bool) []byte {
	var b []byte
	if s.delta {
		b = appendField(b, 1, node)
		b = appendString(b, 2, typeURL)
		if eds {
			b = append(b, s.namesField...)
		}
		return b
	}
	b = appendField(b, 2, node)
	if eds {
		b = append(b, s.namesField...)
	}
	return appendString(b, 4, typeURL)
}

// ackFor: SotW DiscoveryRequest { version_info = 1; resource_names = 3; type_url = 4; response_nonce = 5 };
// Delta DeltaDiscoveryRequest { type_url = 2; response_nonce = 6 }. The result is valid until the next call.
func (s *stream) ackFor(r *response) []byte {
	url := r.typeURL
	switch r.typ {
	case typeCDS:
		url = cdsURL
	case typeEDS:
		url = edsURL
	}
	b := s.ack[:0]
	if s.delta {
		b = appendString(b, 2, url)
		b = appendField(b, 6, r.nonce)
	} else {
		b = appendField(b, 1, r.version)
		if r.typ == typeEDS {
			b = append(b, s.namesField...)
		}
		b = appendString(b, 4, url)
		b = appendField(b, 5, r.nonce)
	}
	s.ack = b
	return b
}

// ----------------------------------------------------------------------------------------------- main

func main() {
	flag.Parse()
	if *protocol != "sotw" && *protocol != "delta" {
		fmt.Fprintln(os.Stderr, "loadclient: -protocol must be sotw or delta")
		os.Exit(2)
	}
	if *groups < 1 || *perStream < 1 || *perStream > *groups || *nStreams < 1 {
		fmt.Fprintln(os.Stderr, "loadclient: need n >= 1 and 1 <= eds <= clusters")
		os.Exit(2)
	}
	stride = *groups / *perStream
	subscribers = make([]int, *groups)
	streams := make([]*stream, *nStreams)
	for i := range streams {
		s := &stream{i: i, delta: *protocol == "delta", seen: map[int]struct{}{}}
		for j := 0; j < *perStream; j++ {
			idx := (i + j*stride) % *groups
			s.names = append(s.names, idx)
			subscribers[idx]++
			s.namesField = appendString(s.namesField, 3, *prefix+strconv.Itoa(idx)+*suffix)
		}
		streams[i] = s
	}

	started := mono()
	cpu0 := cpuUs()
	var mu sync.Mutex
	readyAt := make([]int64, 0, len(streams))
	failed := 0
	allDone := make(chan struct{})
	var sem chan struct{}
	if *window > 0 {
		sem = make(chan struct{}, *window)
	}
	settled := 0
	for _, s := range streams {
		if sem != nil {
			sem <- struct{}{}
		}
		once := sync.Once{}
		go s.run(func(ok bool, at int64) {
			once.Do(func() {
				if sem != nil {
					<-sem
				}
				mu.Lock()
				if ok {
					readyAt = append(readyAt, at)
				} else {
					failed++
				}
				settled++
				if settled == len(streams) {
					close(allDone)
				}
				mu.Unlock()
			})
		})
	}
	select {
	case <-allDone:
	case <-time.After(*connectTO):
	}
	mu.Lock()
	rss, hwm := rssKb()
	emit(map[string]any{
		"type": "connected", "streams": len(streams), "ready": len(readyAt), "failed": failed,
		"ms": float64(mono()-started) / 1e6, "readyMs": distMs(readyAt, started),
		"cpuUs": cpuUs() - cpu0, "rssKb": rss, "hwmKb": hwm, "reconnects": reconnects.Load(),
	})
	mu.Unlock()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "expect":
			if len(f) != 4 {
				emit(map[string]any{"type": "error", "message": "usage: expect <id> <cluster> <marker>"})
				continue
			}
			id, _ := strconv.ParseInt(f[1], 10, 64)
			marker, _ := strconv.Atoi(f[3])
			if err := reg.expect(id, clusterIndex([]byte(f[2])), marker); err != nil {
				emit(map[string]any{"type": "error", "message": err.Error()})
				continue
			}
			emit(map[string]any{"type": "armed", "id": id})
		case "start":
			if len(f) != 3 {
				emit(map[string]any{"type": "error", "message": "usage: start <id> <ns>"})
				continue
			}
			id, _ := strconv.ParseInt(f[1], 10, 64)
			at, _ := strconv.ParseInt(f[2], 10, 64)
			reg.start(id, at)
		case "cpu":
			rss, hwm := rssKb()
			emit(map[string]any{"type": "cpu", "cpuUs": cpuUs() - cpuAtBoot, "rssKb": rss, "hwmKb": hwm, "streamErrors": streamErrs.Load(), "reconnects": reconnects.Load(), "now": mono()})
		case "pending":
			reg.report()
		case "quit":
			return
		default:
			emit(map[string]any{"type": "error", "message": "unknown command " + f[0]})
		}
	}
}
