// Package archtest holds tests of the module's shape: which package may
// import which.
package archtest
