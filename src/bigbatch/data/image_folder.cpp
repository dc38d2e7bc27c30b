// Listing an ImageFolder tree the way torchvision.datasets.ImageFolder does, and reading its
// files with plain POSIX reads (one open, fstat, read per image).
#include "bigbatch/data/image_folder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool is_jpeg_name(const std::string& ext) { return ext == ".jpg" || ext == ".jpeg"; }

// torchvision's other IMG_EXTENSIONS: its ImageFolder would load them, we would not.
bool is_other_image_name(const std::string& ext) {
  for (const char* e : {".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
    if (ext == e) return true;
  return false;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The JPEG files under a class folder in torchvision's order: sorted(os.walk(dir)), names
// sorted within each folder, i.e. ordered by (folder path, file name).
std::vector<std::string> class_files(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
  BIGBATCH_CHECK(!ec, kImageFolderWhere << " " << dir.string() << ": cannot list: " << ec.message());
  for (; it != end; it.increment(ec)) {
    BIGBATCH_CHECK(!ec, kImageFolderWhere << " " << dir.string() << ": cannot list: " << ec.message());
    std::error_code type_ec;
    // A broken link is kept: reading it later names it as unreadable.
    if (it->is_directory(type_ec)) continue;
    const fs::path& p = it->path();
    const std::string ext = lower(p.extension().string());
    BIGBATCH_CHECK(!is_other_image_name(ext), kImageFolderWhere
                                                  << " " << p.string()
                                                  << ": only JPEG images are supported (convert it, or move it out)");
    if (is_jpeg_name(ext)) found.emplace_back(p.parent_path().string(), p.filename().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> files;
  files.reserve(found.size());
  for (const auto& [folder, name] : found) files.push_back((fs::path(folder) / name).string());
  return files;
}

std::vector<std::string> subfolders(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (is_dir(it->path())) names.push_back(it->path().filename().string());
  BIGBATCH_CHECK(!ec, kImageFolderWhere << " " << dir.string() << ": cannot list: " << ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

void check_split(const fs::path& dir) {
  BIGBATCH_CHECK(is_dir(dir), kImageFolderWhere << " " << dir.string() << ": split folder missing (expected "
                                                << dir.string() << "/<class>/*.jpg, torchvision's ImageFolder layout)");
}

class FolderImages final : public EncodedImages {
 public:
  FolderImages(std::string name, FolderListing listing)
      : EncodedImages(kImageFolderWhere, std::move(name), std::move(listing.class_names), std::move(listing.labels)),
        files_(std::move(listing.files)) {}

  void read(int64_t i, std::vector<uint8_t>& out) const override {
    read_whole_file(files_[static_cast<size_t>(i)], kImageFolderWhere, out);
  }
  std::string describe(int64_t i) const override { return files_[static_cast<size_t>(i)]; }

 private:
  std::vector<std::string> files_;
};

}  // namespace

std::vector<std::string> list_image_classes(const std::string& root) {
  const fs::path dir = fs::path(root) / "train";
  check_split(dir);
  std::vector<std::string> names = subfolders(dir);
  BIGBATCH_CHECK(!names.empty(),
                 kImageFolderWhere << " " << dir.string() << ": no class folder (expected <class>/*.jpg inside)");
  return names;
}

FolderListing list_image_folder(const std::string& root, const std::string& split,
                                const std::vector<std::string>& class_names) {
  const fs::path dir = fs::path(root) / split;
  check_split(dir);
  FolderListing listing;
  listing.class_names = class_names;
  for (const std::string& name : subfolders(dir))
    BIGBATCH_CHECK(std::binary_search(class_names.begin(), class_names.end(), name),
                   kImageFolderWhere << " " << (dir / name).string() << ": class '" << name
                                     << "' is not a class of the train split");
  int64_t found_classes = 0;
  for (size_t label = 0; label < class_names.size(); ++label) {
    const fs::path class_dir = dir / class_names[label];
    if (!is_dir(class_dir)) continue;
    std::vector<std::string> files = class_files(class_dir);
    BIGBATCH_CHECK(!files.empty(),
                   kImageFolderWhere << " " << class_dir.string() << ": empty class folder (no .jpg or .jpeg file)");
    ++found_classes;
    for (std::string& f : files) {
      listing.files.push_back(std::move(f));
      listing.labels.push_back(static_cast<int32_t>(label));
    }
  }
  BIGBATCH_CHECK(found_classes > 0, kImageFolderWhere << " " << dir.string() << ": no class folder");
  return listing;
}

std::unique_ptr<EncodedImages> open_image_folder(const std::string& root, const std::string& split) {
  std::vector<std::string> classes = list_image_classes(root);
  FolderListing listing = list_image_folder(root, split, classes);
  return std::make_unique<FolderImages>((fs::path(root) / split).string(), std::move(listing));
}

void read_whole_file(const std::string& path, const char* where, std::vector<uint8_t>& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  BIGBATCH_CHECK(fd >= 0, where << " " << path << ": cannot open: " << std::strerror(errno));
  struct stat st {};
  errno = 0;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    BIGBATCH_THROW(InvalidArgument, where << " " << path << ": not a readable file"
                                          << (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::close(fd);
      BIGBATCH_THROW(InvalidArgument, where << " " << path << ": cannot read: "
                                            << (err != 0 ? std::strerror(err) : "the file shrank while read"));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace bigbatch::data
