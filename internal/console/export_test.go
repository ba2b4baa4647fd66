package console

import "golang.org/x/crypto/bcrypt"

// CheapHashLine is HashLine at bcrypt's minimum cost, to keep the tests
// (many logins, under -race) fast.
func CheapHashLine(name string, role Role, password string) (string, error) {
	return hashLine(name, role, password, bcrypt.MinCost)
}
