/* stage2 check: the in-root compiler (tcc or clang) compiles and runs this in a chroot. */
#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char buf[32];
    snprintf(buf, sizeof buf, "%s-%d", "musl", 42);
    printf("in-root cc: sqrt(2)=%.6f %s len=%zu\n", sqrt(2.0), buf, strlen(buf));
    return 0;
}
