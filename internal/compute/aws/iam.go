package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// iamPath groups every role and instance profile skyplane creates, so a
// sweep lists them without reading every role in the account.
const iamPath = "/skyplane/"

const assumeRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// storagePolicy is what a gateway does with S3: read sources, write
// destinations (multipart included), find a bucket's region.
const storagePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[` +
	`"s3:GetObject","s3:GetObjectVersion","s3:PutObject","s3:ListBucket","s3:GetBucketLocation",` +
	`"s3:AbortMultipartUpload","s3:ListMultipartUploadParts","s3:ListBucketMultipartUploads"],"Resource":"*"}]}`

const storagePolicyName = "skyplane-storage"

// instanceProfile creates the dataplane's role and instance profile once,
// whichever region asks first.
func (p *Provider) instanceProfile(ctx context.Context) (string, error) {
	p.iamOnce.Do(func() { p.profile, p.iamErr = p.createIAM(ctx) })
	return p.profile, p.iamErr
}

func (p *Provider) iamTags() []iamtypes.Tag {
	return []iamtypes.Tag{
		{Key: aws.String(TagRole), Value: aws.String(RoleGateway)},
		{Key: aws.String(TagClient), Value: aws.String(p.opt.ClientID)},
		{Key: aws.String(TagDataplane), Value: aws.String(p.opt.DataplaneID)},
	}
}

func (p *Provider) createIAM(ctx context.Context) (string, error) {
	c := p.iam()
	name := p.name("")
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: &name, Path: aws.String(iamPath),
		AssumeRolePolicyDocument: aws.String(assumeRolePolicy), Tags: p.iamTags(),
		Description: aws.String("skyplane gateways of dataplane " + p.opt.DataplaneID)}); err != nil {
		return "", fmt.Errorf("aws iam: create role %s: %w", name, err)
	}
	if err := p.record(Entry{Kind: KindRole, ID: name}); err != nil {
		return "", err
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &name, PolicyName: aws.String(storagePolicyName),
		PolicyDocument: aws.String(storagePolicy)}); err != nil {
		return "", fmt.Errorf("aws iam: role policy: %w", err)
	}
	if err := p.record(Entry{Kind: KindRolePolicy, ID: storagePolicyName, Parent: name}); err != nil {
		return "", err
	}
	if _, err := c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: &name, Path: aws.String(iamPath),
		Tags: p.iamTags()}); err != nil {
		return "", fmt.Errorf("aws iam: create instance profile %s: %w", name, err)
	}
	if err := p.record(Entry{Kind: KindInstanceProfile, ID: name}); err != nil {
		return "", err
	}
	if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: &name, RoleName: &name}); err != nil {
		return "", fmt.Errorf("aws iam: add role to instance profile: %w", err)
	}
	if err := p.record(Entry{Kind: KindProfileRole, ID: name, Parent: name}); err != nil {
		return "", err
	}
	return name, nil
}
