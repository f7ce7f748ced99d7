// Herald's benchmark load client (see main.go). Not part of Herald's runtime.
module herald/tools/loadclient

go 1.26.0

require (
	golang.org/x/net v0.48.0
	golang.org/x/sys v0.40.0
)

require golang.org/x/text v0.32.0 // indirect
