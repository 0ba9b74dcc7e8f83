// The windows a training run reads (`deepslide train --windows-csv FILE`): one row per distinct
// window of the training and validation sets, so a user can check which regions of which slides
// the model learns from (with --annotations: only windows inside the annotated regions).
//   set,slide,x,y,side,class
// x, y: the window's level-0 top-left corner; side: its side in level-0 pixels.
#pragma once
#include <string>

#include "train/dataset.h"

namespace ds {

void write_window_list(const Dataset& d, const std::string& path);  // atomic; slides mode only

}  // namespace ds
