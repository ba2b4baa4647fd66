package carrier

import "testing"

func TestNewRegistry(t *testing.T) {
	r := NewRegistry(Protocol{Name: "a"}, Protocol{Name: "b"})
	if len(r) != 2 || r["a"].Name != "a" || r["b"].Name != "b" {
		t.Fatalf("%v", r)
	}
	defer func() {
		if recover() == nil {
			t.Error("a protocol registered twice did not panic")
		}
	}()
	NewRegistry(Protocol{Name: "a"}, Protocol{Name: "a"})
}
