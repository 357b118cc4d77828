# Runs a bundle's data.wasm under Wasmtime through its Python embedding (pip package `wasmtime`), the way any WASI host
# runs it: the bundle preopened as /job, the output folder as /out, arguments "/job /out".
#   python3 scripts/data-wasi-wasmtime.py JOB OUT      (exit status: data.wasm's)
# test/bundle-wasi.test.ts runs it when the Python in WEBTUNE_WASMTIME_PYTHON (default python3) has wasmtime.
import os
import sys

from wasmtime import Engine, ExitTrap, Linker, Module, Store, WasiConfig

if len(sys.argv) != 3:
    sys.exit('usage: data-wasi-wasmtime.py JOB OUT')
job, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
engine = Engine()
store = Store(engine)
wasi = WasiConfig()
wasi.argv = ['data.wasm', '/job', '/out']
wasi.preopen_dir(job, '/job')
wasi.preopen_dir(out, '/out')
wasi.inherit_stderr()
store.set_wasi(wasi)
linker = Linker(engine)
linker.define_wasi()
instance = linker.instantiate(store, Module.from_file(engine, os.path.join(job, 'data.wasm')))
try:
    instance.exports(store)['_start'](store)
    code = 0
except ExitTrap as e:
    code = e.code
sys.exit(code)
