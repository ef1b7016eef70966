// Command skyplane moves bulk data between object stores through gateways.
package main

import (
	"context"
	"os"

	"github.com/skyplane-project/skyplane-go/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
