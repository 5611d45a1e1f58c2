#!/bin/sh
# TEST FIXTURE: the official redis image's entry point, reduced to what the
# compose file uses. The official image compiles protected mode off (ports are
# only reachable where compose publishes them); Debian's build has it on, so
# it is switched off here.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec gosu redis "$0" "$@"
fi
if [ "$1" = redis-server ]; then
    set -- "$@" --protected-mode no
fi
umask 0077
exec "$@"
