// Command mkbucket creates a bucket (an Azure container) of the same name
// on each test server, reached through the variables skyplane itself uses:
//
//	eval "$(scripts/test-servers.sh env)"
//	go run ./scripts/mkbucket NAME    # or: scripts/test-servers.sh mb NAME
//
// S3 through AWS_ENDPOINT_URL_S3 and the AWS_* keys, GCS through
// STORAGE_EMULATOR_HOST, Azure through AZURE_STORAGE_CONNECTION_STRING. A
// server whose variable is unset is skipped with a note.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkbucket NAME (lowercase letters, digits and hyphens)")
		os.Exit(2)
	}
	name := os.Args[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	failed := false
	for _, store := range []struct {
		kind, env, url string
		create         func(context.Context, string) error
	}{
		{"S3", "AWS_ENDPOINT_URL_S3", "s3://" + name, createS3},
		{"GCS", "STORAGE_EMULATOR_HOST", "gs://" + name, createGCS},
		{"Azure", "AZURE_STORAGE_CONNECTION_STRING", "azure://devstoreaccount1/" + name, createAzure},
	} {
		if os.Getenv(store.env) == "" {
			fmt.Printf("%-5s skipped: %s is not set (eval \"$(scripts/test-servers.sh env)\")\n", store.kind, store.env)
			continue
		}
		if err := store.create(ctx, name); err != nil {
			fmt.Fprintf(os.Stderr, "%-5s %s: %v\n", store.kind, store.url, err)
			failed = true
			continue
		}
		fmt.Printf("%-5s %s\n", store.kind, store.url)
	}
	if failed {
		os.Exit(1)
	}
}

func createS3(ctx context.Context, name string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	_, err = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).
		CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	return err
}

func createGCS(ctx context.Context, name string) error {
	c, err := storage.NewClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bucket(name).Create(ctx, "test-project", nil)
}

func createAzure(ctx context.Context, name string) error {
	c, err := azblob.NewClientFromConnectionString(os.Getenv("AZURE_STORAGE_CONNECTION_STRING"), nil)
	if err != nil {
		return err
	}
	_, err = c.CreateContainer(ctx, name, nil)
	return err
}
