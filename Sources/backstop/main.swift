import BackstopCLI

Backstop.runAndExit()
