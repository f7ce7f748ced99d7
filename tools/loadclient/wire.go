package main

// Hand-rolled protobuf wire reading and writing of the few xDS envelope fields the load client needs, so
// that a response costs a scan, not an unmarshal. Field numbers are from envoy/service/discovery/v3/
// discovery.proto, envoy/config/core/v3/base.proto, envoy/config/endpoint/v3/endpoint.proto and
// google/protobuf/any.proto.

import (
	"errors"
	"strconv"
)

const wireVarint, wire64, wireLen, wire32 = 0, 1, 2, 5

var errTruncated = errors.New("truncated protobuf")

// reader scans one message; every method reports a malformed or truncated input through err.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) more() bool { return r.err == nil && r.pos < len(r.b) }

func (r *reader) varint() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.b) {
			r.err = errTruncated
			return 0
		}
		c := r.b[r.pos]
		r.pos++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	r.err = errors.New("varint too long")
	return 0
}

// tag returns the field number and wire type of the next field.
func (r *reader) tag() (int, int) {
	t := r.varint()
	return int(t >> 3), int(t & 7)
}

// bytes returns the next length-delimited value (aliasing the input).
func (r *reader) bytes() []byte {
	n := r.varint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.err = errTruncated
		return nil
	}
	v := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return v
}

func (r *reader) skip(wt int) {
	switch wt {
	case wireVarint:
		r.varint()
	case wire64:
		r.pos += 8
	case wireLen:
		r.bytes()
	case wire32:
		r.pos += 4
	default:
		r.err = errors.New("unsupported wire type " + strconv.Itoa(wt))
	}
	if r.pos > len(r.b) {
		r.err = errTruncated
	}
}

func appendVarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// appendField appends a length-delimited field; empty values are omitted, as proto3 does.
func appendField(b []byte, field int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendVarint(b, uint64(field)<<3|wireLen)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	b = appendVarint(b, uint64(field)<<3|wireLen)
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeNode: envoy.config.core.v3.Node { id = 1; cluster = 2; locality = 4 { zone = 2 }; user_agent_name = 6 }.
func encodeNode(id, cluster, zone, userAgent string) []byte {
	var b []byte
	b = appendString(b, 1, id)
	b = appendString(b, 2, cluster)
	if zone != "" {
		b = appendField(b, 4, appendString(nil, 2, zone))
	}
	return appendString(b, 6, userAgent)
}

// claMarker reads a ClusterLoadAssignment { cluster_name = 1; endpoints = 2 (LocalityLbEndpoints {
// lb_endpoints = 2 }) }: its cluster name and, when count is set, how many lb_endpoints it holds.
func claMarker(b []byte, count bool) (name []byte, endpoints int, err error) {
	r := reader{b: b}
	for r.more() {
		f, wt := r.tag()
		switch {
		case f == 1 && wt == wireLen:
			name = r.bytes()
			if !count {
				return name, 0, r.err
			}
		case f == 2 && wt == wireLen && count:
			n, err := countLbEndpoints(r.bytes())
			if err != nil {
				return nil, 0, err
			}
			endpoints += n
		default:
			r.skip(wt)
		}
	}
	return name, endpoints, r.err
}

// anyValue reads google.protobuf.Any { type_url = 1; value = 2 } and returns value.
func anyValue(b []byte) ([]byte, error) {
	r := reader{b: b}
	var v []byte
	for r.more() {
		f, wt := r.tag()
		if f == 2 && wt == wireLen {
			v = r.bytes()
		} else {
			r.skip(wt)
		}
	}
	return v, r.err
}

// deltaResourceAny reads envoy.service.discovery.v3.Resource { version = 1; resource = 2 (Any); name = 3 }.
func deltaResourceAny(b []byte) ([]byte, error) {
	r := reader{b: b}
	var v []byte
	for r.more() {
		f, wt := r.tag()
		if f == 2 && wt == wireLen {
			v = r.bytes()
		} else {
			r.skip(wt)
		}
	}
	return v, r.err
}

// countLbEndpoints counts the lb_endpoints (field 2) of a LocalityLbEndpoints. The fast path handles the
// one-byte tag 0x12 with a length of up to two bytes, which is every lb_endpoint below 16 KB; anything
// else goes through the generic reader.
func countLbEndpoints(b []byte) (int, error) {
	n, pos := 0, 0
	for pos < len(b) {
		if b[pos] == 0x12 && pos+1 < len(b) {
			l := int(b[pos+1])
			next := pos + 2
			if l >= 0x80 {
				if pos+2 >= len(b) || b[pos+2] >= 0x80 {
					goto generic
				}
				l = l&0x7f | int(b[pos+2])<<7
				next++
			}
			pos = next + l
			n++
			continue
		}
	generic:
		r := reader{b: b, pos: pos}
		f, wt := r.tag()
		if f == 2 && wt == wireLen {
			n++
		}
		r.skip(wt)
		if r.err != nil {
			return 0, r.err
		}
		pos = r.pos
	}
	if pos > len(b) {
		return 0, errTruncated
	}
	return n, nil
}
