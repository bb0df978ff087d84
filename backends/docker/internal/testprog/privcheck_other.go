//go:build !linux

package main

import "fmt"

func privcheck() int {
	fmt.Println("FAIL privcheck: needs Linux")
	return 1
}

func statFile(string) int {
	fmt.Println("stat needs Linux")
	return 1
}
