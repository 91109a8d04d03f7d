#!/usr/bin/env bash
# bench/hot-pages.sh DIR BYTES — before a measured produce run of BYTES of record data: writes a file of zeros
# half as large again plus 512 MiB (the client's and the broker's own allocations) into DIR and deletes it.
#
# Why: this machine kind is a virtual machine whose free memory goes back to the host once it has been free for
# a while (free page reporting, some 20 s here), and the next process to touch such a page pays in system CPU for
# taking it back. Measured with dd here: writing 1 GiB into the page cache costs ~0.2 s of system CPU in pages
# freed a moment ago and ~2.3 s in pages taken back from the host. A broker writing a few GB would carry that in
# its CPU per GB for whatever share of its page cache happened to come back from the host, which has nothing to
# do with the broker (it moved potok's 1 KiB produce cost from ~1.0 to ~2.7 s/GB and Kafka's by as much, between
# runs of the same build). Pages freed a moment ago are handed out first, so writing and deleting a file a little
# larger than the run's data gives the broker the same hot pages whichever broker runs.
set -eu
dd if=/dev/zero of="$1/hot-pages" bs=1M count=$(($2 * 3 / 2 / 1048576 + 512)) status=none
rm -f "$1/hot-pages"
