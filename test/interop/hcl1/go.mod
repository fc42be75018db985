module github.com/herald/hcl1-reader

go 1.24.0

require github.com/hashicorp/hcl v1.0.1-vault-5
