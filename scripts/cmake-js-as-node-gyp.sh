#!/bin/sh
# prebuildify has no cmake-js backend: it runs `<node-gyp> rebuild --target=... --arch=...` and then
# takes the first .node in build/Release. This stands in for node-gyp and ignores those arguments
# (Node-API builds need no headers download; cmake-js uses node-api-headers).
cd "$(dirname "$0")/.." || exit 1
exec node node_modules/cmake-js/bin/cmake-js rebuild
