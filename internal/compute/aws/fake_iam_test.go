package aws

import (
	"fmt"
	"sort"
	"strings"
)

const fakeDate = "<CreateDate>2026-11-29T00:00:00Z</CreateDate>"

func iamTagsOf(c call) map[string]string {
	tags := map[string]string{}
	for _, t := range items(c.Form, "Tags.member") {
		tags[t.Get("Key")] = t.Get("Value")
	}
	return tags
}

func roleXML(r *fres) string {
	return fmt.Sprintf("<RoleName>%s</RoleName><RoleId>AROA%s</RoleId><Path>%s</Path><Arn>arn:aws:iam::123456789012:role%s%s</Arn>%s",
		r.ID, strings.ToUpper(r.ID[len(r.ID)-4:]), r.Path, r.Path, r.ID, fakeDate)
}

func (f *fakeCloud) profileXML(r *fres) string {
	var roles strings.Builder
	for _, rn := range r.Roles {
		if role := f.res["role/"+rn]; role != nil {
			roles.WriteString("<member>" + roleXML(role) + "</member>")
		}
	}
	return fmt.Sprintf("<InstanceProfileName>%s</InstanceProfileName><InstanceProfileId>AIPA%s</InstanceProfileId><Path>%s</Path>"+
		"<Arn>arn:aws:iam::123456789012:instance-profile%s%s</Arn>%s<Roles>%s</Roles>", r.ID, strings.ToUpper(r.ID[len(r.ID)-4:]), r.Path, r.Path, r.ID, fakeDate, roles.String())
}

// iamAction serves one IAM request under f.mu.
func (f *fakeCloud) iamAction(c call) (string, *fault) {
	fm := c.Form
	role := func() (*fres, *fault) {
		r := f.res["role/"+fm.Get("RoleName")]
		if r == nil {
			return nil, errf(404, "NoSuchEntity", "The role with name %s cannot be found.", fm.Get("RoleName"))
		}
		return r, nil
	}
	profile := func() (*fres, *fault) {
		r := f.res["profile/"+fm.Get("InstanceProfileName")]
		if r == nil {
			return nil, errf(404, "NoSuchEntity", "Instance Profile %s cannot be found.", fm.Get("InstanceProfileName"))
		}
		return r, nil
	}
	switch c.Action {
	case "CreateRole":
		name := fm.Get("RoleName")
		if f.res["role/"+name] != nil {
			return "", errf(409, "EntityAlreadyExists", "Role with name %s already exists.", name)
		}
		if !strings.Contains(fm.Get("AssumeRolePolicyDocument"), "ec2.amazonaws.com") {
			return "", errf(400, "MalformedPolicyDocument", "want ec2 as principal")
		}
		r := &fres{Kind: "role", ID: name, Path: fm.Get("Path"), Tags: iamTagsOf(c), Policies: map[string]string{}}
		f.res["role/"+name] = r
		return "<Role>" + roleXML(r) + "</Role>", nil
	case "PutRolePolicy":
		r, err := role()
		if err != nil {
			return "", err
		}
		r.Policies[fm.Get("PolicyName")] = fm.Get("PolicyDocument")
		return "", nil
	case "DeleteRolePolicy":
		r, err := role()
		if err != nil {
			return "", err
		}
		if _, ok := r.Policies[fm.Get("PolicyName")]; !ok {
			return "", errf(404, "NoSuchEntity", "The role policy with name %s cannot be found.", fm.Get("PolicyName"))
		}
		delete(r.Policies, fm.Get("PolicyName"))
		return "", nil
	case "ListRolePolicies":
		r, err := role()
		if err != nil {
			return "", err
		}
		var names []string
		for n := range r.Policies {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			b.WriteString("<member>" + n + "</member>")
		}
		return "<PolicyNames>" + b.String() + "</PolicyNames><IsTruncated>false</IsTruncated>", nil
	case "DeleteRole":
		r, err := role()
		if err != nil {
			return "", err
		}
		if len(r.Policies) > 0 {
			return "", errf(409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
		}
		for _, o := range f.res {
			if o.Kind == "profile" && contains(o.Roles, r.ID) {
				return "", errf(409, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
			}
		}
		delete(f.res, "role/"+r.ID)
		return "", nil
	case "ListRoles":
		var b strings.Builder
		for _, r := range f.iamList("role", fm.Get("PathPrefix")) {
			b.WriteString("<member>" + roleXML(r) + "</member>")
		}
		return "<Roles>" + b.String() + "</Roles><IsTruncated>false</IsTruncated>", nil

	case "CreateInstanceProfile":
		name := fm.Get("InstanceProfileName")
		if f.res["profile/"+name] != nil {
			return "", errf(409, "EntityAlreadyExists", "Instance Profile %s already exists.", name)
		}
		r := &fres{Kind: "profile", ID: name, Path: fm.Get("Path"), Tags: iamTagsOf(c)}
		f.res["profile/"+name] = r
		return "<InstanceProfile>" + f.profileXML(r) + "</InstanceProfile>", nil
	case "AddRoleToInstanceProfile":
		p, err := profile()
		if err != nil {
			return "", err
		}
		if _, err := role(); err != nil {
			return "", err
		}
		if len(p.Roles) > 0 {
			return "", errf(409, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
		}
		p.Roles = append(p.Roles, fm.Get("RoleName"))
		return "", nil
	case "RemoveRoleFromInstanceProfile":
		p, err := profile()
		if err != nil {
			return "", err
		}
		if !contains(p.Roles, fm.Get("RoleName")) {
			return "", errf(404, "NoSuchEntity", "role %s is not in profile", fm.Get("RoleName"))
		}
		p.Roles = nil
		return "", nil
	case "DeleteInstanceProfile":
		p, err := profile()
		if err != nil {
			return "", err
		}
		if len(p.Roles) > 0 {
			return "", errf(409, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
		}
		delete(f.res, "profile/"+p.ID)
		return "", nil
	case "GetInstanceProfile":
		p, err := profile()
		if err != nil {
			return "", err
		}
		return "<InstanceProfile>" + f.profileXML(p) + "</InstanceProfile>", nil
	case "ListInstanceProfiles":
		var b strings.Builder
		for _, r := range f.iamList("profile", fm.Get("PathPrefix")) {
			b.WriteString("<member>" + f.profileXML(r) + "</member>")
		}
		return "<InstanceProfiles>" + b.String() + "</InstanceProfiles><IsTruncated>false</IsTruncated>", nil
	}
	return "", errf(400, "InvalidAction", "the fake does not serve %s", c.Action)
}

func (f *fakeCloud) iamList(kind, prefix string) []*fres {
	var out []*fres
	for _, r := range f.res {
		if r.Kind == kind && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
