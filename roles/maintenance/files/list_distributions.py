# Read by `python3 -` inside an app container (list_packages.sh): one "name<TAB>version" per installed distribution.
import importlib.metadata as m

for d in m.distributions():
    print(d.metadata["Name"] + "\t" + d.version)
