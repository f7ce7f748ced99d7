package main

import "testing"

// lbEndpoints builds a LocalityLbEndpoints with n lb_endpoints of `size` bytes each and a trailing
// load_balancing_weight (field 3, a message) and priority (field 5, varint).
func lbEndpoints(n, size int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = appendField(b, 2, make([]byte, size))
	}
	b = appendField(b, 3, []byte{8, 1})
	return append(b, 5<<3, 1)
}

func TestCountLbEndpoints(t *testing.T) {
	for _, c := range []struct{ n, size int }{{0, 10}, {1, 1}, {20, 60}, {1000, 70}, {3, 200}, {2, 20000}} {
		got, err := countLbEndpoints(lbEndpoints(c.n, c.size))
		if err != nil || got != c.n {
			t.Errorf("%d × %d bytes: got %d, %v", c.n, c.size, got, err)
		}
	}
	if _, err := countLbEndpoints([]byte{0x12, 0x05, 1}); err == nil {
		t.Error("truncated input: no error")
	}
}

func TestClaMarker(t *testing.T) {
	var cla []byte
	cla = appendString(cla, 1, "svc-7")
	cla = appendField(cla, 2, lbEndpoints(4, 30))
	cla = appendField(cla, 2, lbEndpoints(3, 30))
	name, n, err := claMarker(cla, true)
	if err != nil || string(name) != "svc-7" || n != 7 {
		t.Fatalf("got %q %d %v", name, n, err)
	}
}
