# The guest's work in the Linux boot test, run by /init under busybox sh. Every line it prints
# starting with "T: " is compared with tests/linux/expected.txt, in order.
echo "T: begin"
echo "T: uname $(uname -s) $(uname -r) $(uname -m)"
echo "T: sha256 $(sha256sum /data/sample.bin | cut -d' ' -f1)"
seq 1 2000 >/tmp/numbers
echo "T: seq md5 $(md5sum </tmp/numbers | cut -d' ' -f1) lines $(wc -l </tmp/numbers)"
echo "T: sort $(sort -rn /tmp/numbers | head -n 3 | tr '\n' ' ')"
s=0
i=1
while [ $i -le 1000 ]; do
    s=$(((s * 31 + i * i * i) % 1000000007))
    i=$((i + 1))
done
echo "T: arith $s"
mkdir -p /mnt/t
mount -t tmpfs -o size=4m tmpfs /mnt/t && echo "T: tmpfs mounted"
cp /data/sample.bin /mnt/t/copy
cmp /data/sample.bin /mnt/t/copy && echo "T: tmpfs copy identical"
echo "written to tmpfs and read back" >/mnt/t/note
echo "T: tmpfs $(cat /mnt/t/note)"
echo "T: tmpfs files $(ls /mnt/t | tr '\n' ' ')"
umount /mnt/t && echo "T: tmpfs unmounted"
# floating point (busybox's awk computes in doubles: the x87 on i386)
awk 'BEGIN { h = 0; for (i = 1; i <= 1000; i++) h += 1 / i; printf "T: awk %.9f %.6f %d\n", h, 355 / 113, 2.5 * 4 }'
echo "T: end"
