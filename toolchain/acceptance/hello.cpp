// stage1 acceptance: iostream, std::thread, an exception from a library caught here.
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

void throw_from_library(const std::string &what);

int main() {
    std::vector<int> squares(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; i++) threads.emplace_back([&squares, i] { squares[i] = i * i; });
    for (auto &t : threads) t.join();
    try {
        throw_from_library("thrown in library");
    } catch (const std::runtime_error &err) {
        std::cout << "caught: " << err.what() << " squares=" << squares[1] << ','
                  << squares[2] << ',' << squares[3] << std::endl;
        return 0;
    }
    return 1;
}
