// stage2 check (full profile): the in-root clang++ compiles and runs this in a chroot.
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

int main() {
    int from_thread = 0;
    std::thread worker([&] { from_thread = 6 * 7; });
    worker.join();
    std::string caught;
    try {
        throw std::runtime_error("libc++");
    } catch (const std::exception &e) {
        caught = e.what();
    }
    std::cout << "in-root c++: thread=" << from_thread << " caught=" << caught << '\n';
    return 0;
}
