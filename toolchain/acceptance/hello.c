/* stage1 acceptance: stdio, libm, long double, pthreads, TLS. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>

static _Thread_local int tls_value = 1;
static int results[4];

static void *worker(void *arg) {
    int id = (int)(long)arg;
    tls_value += id;            /* each thread has its own copy */
    results[id] = tls_value;
    return NULL;
}

int main(void) {
    pthread_t threads[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) return 1;
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    long double third = 1.0L / 3.0L;
    printf("sqrt(2)=%.6f third=%.12Lf tls=%d,%d,%d,%d main_tls=%d\n", sqrt(2.0), third,
           results[0], results[1], results[2], results[3], tls_value);
    return 0;
}
