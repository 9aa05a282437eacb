# Offline stand-in for ansible-test's get-pip download (ci-files.testing.ansible.com does not resolve here):
# bootstrap pip with the interpreter's own ensurepip, then let pip install what ansible-test asked for.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
