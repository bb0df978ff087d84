// Package runtimepb holds the Go code generated from backends/proto/runtime.proto.
package runtimepb

//go:generate protoc -I ../../proto --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative runtime.proto
