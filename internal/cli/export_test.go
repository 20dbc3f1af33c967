package cli

// CheckDataDir is checkDataDir, for the external tests.
var CheckDataDir = checkDataDir
